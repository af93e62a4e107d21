"""``python -m heartgrpo ...``: the command line, also under ``accelerate launch -m heartgrpo``."""

from heartgrpo.cli import app

if __name__ == "__main__":
    app()
