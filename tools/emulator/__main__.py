"""``python -m tools.emulator`` (what ``make emulator`` runs): see ``tools.emulator.cli``."""

from tools.emulator.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
