"""``python -m exitguard``: the same entry point as the ``exitguard`` console script."""

from exitguard.cli.main import main

if __name__ == "__main__":
    main()
