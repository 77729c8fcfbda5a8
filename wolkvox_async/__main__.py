"""``python -m wolkvox_async``: the ``wolkvox`` command."""

from .cli import main

if __name__ == "__main__":
    main()
