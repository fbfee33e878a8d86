"""The example `items` resource: model, schemas, service and routes."""
