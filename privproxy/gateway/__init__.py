"""The one network hop to the PPQ gateway: request forwarding, model catalog, HTTP/1.1 client."""
