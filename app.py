"""Start lmdemo: parse flags → Settings → services → build_app → launch."""

import sys

from lmdemo.logs import configure_logging
from lmdemo.services import build_services
from lmdemo.settings import load_settings
from lmdemo.ui.layout import build_app, launch_options


def main(argv: list[str]) -> None:
    settings = load_settings(argv)
    configure_logging(log_prompts=settings.log_prompts)
    services = build_services(settings)
    if settings.preload:
        services.preload()
    build_app(services).launch(**launch_options(services))


if __name__ == "__main__":
    main(sys.argv[1:])
