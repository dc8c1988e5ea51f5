"""Pure, sans-I/O translators between the client APIs and chat completions (no aiohttp)."""
