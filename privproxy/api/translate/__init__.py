"""Pure, sans-I/O translators between client APIs and sealed chat completions.

Each API has a request module (client request → chat-completions body) and an events module
(chat deltas → the API's events). `chat_stream` turns chat answers, streamed or whole, into
one sequence of normalized deltas that every translator consumes. Nothing here does I/O or
imports aiohttp: the route handlers in `privproxy.api` do the reading and writing.
"""
