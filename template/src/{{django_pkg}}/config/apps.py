from django.apps import AppConfig


class ServiceConfig(AppConfig):
    """The project's own configuration, installed as an app for its system checks."""

    name = __package__
    label = "service_config"

    def ready(self) -> None:
        from . import middleware  # noqa: F401, PLC0415 - registers its system check
