"""Start lmdemo: parse flags → Settings → services → load models → build_app → launch."""

import sys

from lmdemo.hosting.zerogpu import import_spaces_first

import_spaces_first()  # on ZeroGPU, `spaces` must patch torch before anything else touches CUDA

from lmdemo import hosting  # noqa: E402
from lmdemo.logs import configure_logging  # noqa: E402
from lmdemo.services import build_services  # noqa: E402
from lmdemo.settings import load_settings  # noqa: E402
from lmdemo.ui.layout import build_app, launch_options  # noqa: E402


def main(argv: list[str]) -> None:
    settings = load_settings(argv)
    configure_logging(log_prompts=settings.log_prompts)
    services = build_services(settings)
    hosting.start(services)
    build_app(services).launch(**launch_options(services))


if __name__ == "__main__":
    main(sys.argv[1:])
