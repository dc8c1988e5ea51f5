"""The aiohttp server: app factory, settings, guards, request intake and answer relay."""
