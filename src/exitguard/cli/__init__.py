"""The ``exitguard`` command line: thin wiring around the domain and, later, the other parts."""
