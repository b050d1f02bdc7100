"""Trading calendars: which time a market is open (sessions), without pandas in the gateway.

`model` (sessions, the built-in `24/7` and `24/5`), `slots` (open time, bar slots, session
buckets), `registry` (calendars by name, exchange calendars cached as Arrow IPC files), `build`
(the separate process computing an exchange calendar with exchange_calendars). See
docs/calendars.md and docs/adr/0003-trading-calendars.md.
"""
