"""Django's stock middleware, with their hooks run in the event loop when they do no I/O.

Served over ASGI, Django runs each hook of a `MiddlewareMixin` in a worker thread
(`sync_to_async`): two thread hops per middleware and request, which cost more than the rest of
a `/health/live` request together. The hooks of the middleware below only read the request and
set headers or lazy attributes, so they run directly in the event loop here (the admin's own
middleware, in admin_site.py, the same way).
"""

from collections.abc import Callable
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.checks import CheckMessage, Tags, register
from django.core.checks import Warning as CheckWarning
from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django.middleware.clickjacking import XFrameOptionsMiddleware as _XFrameOptions
from django.middleware.csrf import CsrfViewMiddleware as _CsrfView
from django.middleware.security import SecurityMiddleware as _Security
from django.utils.module_loading import import_string


class InEventLoop:
    """`MiddlewareMixin.__acall__`, calling the hooks directly rather than in a thread."""

    get_response: Callable[[HttpRequest], Any]

    def request_needs_thread(self, request: HttpRequest) -> bool:
        """Whether `process_request` may block (on the database) for this request."""
        return False

    def response_needs_thread(self, request: HttpRequest) -> bool:
        """Whether `process_response` may block (on the database) for this request."""
        return False

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        response = None
        if hasattr(self, "process_request"):
            if self.request_needs_thread(request):
                response = await sync_to_async(self.process_request)(request)
            else:
                response = self.process_request(request)
        response = response or await self.get_response(request)
        if hasattr(self, "process_response"):
            if self.response_needs_thread(request):
                return await sync_to_async(self.process_response)(request, response)
            response = self.process_response(request, response)
        return response


class SecurityMiddleware(InEventLoop, _Security):
    pass


class CsrfViewMiddleware(InEventLoop, _CsrfView):
    # The CSRF secret is a cookie, unless CSRF_USE_SESSIONS keeps it in the session, which
    # may have to be read from the database: then every hook goes to a thread, as in Django.
    def request_needs_thread(self, request: HttpRequest) -> bool:
        return settings.CSRF_USE_SESSIONS

    def response_needs_thread(self, request: HttpRequest) -> bool:
        return settings.CSRF_USE_SESSIONS

    async def process_view(  # type: ignore[override]
        self,
        request: HttpRequest,
        callback: Callable[..., Any],
        callback_args: tuple[Any, ...],
        callback_kwargs: dict[str, Any],
    ) -> HttpResponseBase | None:
        # Django would run a synchronous `process_view` in a thread as well.
        if settings.CSRF_USE_SESSIONS:
            process_view = sync_to_async(super().process_view)
            return await process_view(request, callback, callback_args, callback_kwargs)
        return super().process_view(request, callback, callback_args, callback_kwargs)


class XFrameOptionsMiddleware(InEventLoop, _XFrameOptions):
    pass


@register(Tags.security, deploy=True)
def check_security_middleware(**kwargs: Any) -> list[CheckMessage]:
    """Django's own checks (security.W001 to W003, silenced in settings) look for its dotted
    paths in MIDDLEWARE and miss the subclasses above: this one accepts them."""
    loaded = [import_string(path) for path in settings.MIDDLEWARE]
    return [
        CheckWarning(
            f"No {base.__module__}.{base.__name__}, nor a subclass of it, in MIDDLEWARE.",
            hint=f"Add {__name__}.{base.__name__} to MIDDLEWARE.",
            id=f"service_config.W00{number}",
        )
        for number, base in enumerate((_Security, _CsrfView, _XFrameOptions), start=1)
        if not any(isinstance(cls, type) and issubclass(cls, base) for cls in loaded)
    ]
