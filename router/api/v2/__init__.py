"""The Open Inference Protocol (KServe V2) over the router: ``routes`` is the HTTP part."""
