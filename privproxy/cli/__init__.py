"""The command line: argument parsing and the serve, verify, demo and client-config commands."""
