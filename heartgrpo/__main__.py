"""``python -m heartgrpo ...``: the command line, also under ``accelerate launch -m heartgrpo``."""

from heartgrpo.cli.app import app

if __name__ == "__main__":
    app()
