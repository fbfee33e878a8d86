"""django-ninja with nothing added: one route, no middleware, minimal settings."""

from django.conf import settings

settings.configure(
    DEBUG=False,
    SECRET_KEY="benchmark-only",  # noqa: S106 - a throwaway process on loopback
    ALLOWED_HOSTS=["*"],
    ROOT_URLCONF=__name__,
    MIDDLEWARE=[],
    INSTALLED_APPS=[],
)

from django.core.asgi import get_asgi_application  # noqa: E402
from django.http import HttpRequest  # noqa: E402
from django.urls import path  # noqa: E402
from ninja import NinjaAPI  # noqa: E402

api = NinjaAPI()


@api.get("/health/live")
async def live(request: HttpRequest) -> dict[str, str]:
    return {"status": "ok"}


urlpatterns = [path("", api.urls)]
app = get_asgi_application()
