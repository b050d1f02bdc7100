"""The TimeBase core: routing, the cache, fetching from providers and real-time fan-out.

It imports no door (`timebase.grpc`, `timebase.flight`, `timebase.rest`); the doors import it
and ask it through one query API (`timebase.gateway.query.QueryApi`), and `timebase.server`
composes both into the running application.
"""
