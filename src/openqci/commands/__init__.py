"""The sub-commands of ``openqci``, one module per command or group; ``openqci.cli`` assembles them."""
