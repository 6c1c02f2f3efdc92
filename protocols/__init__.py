"""Wire formats only: bytes in, records out, and back. No sockets, no reactor, no storage."""
