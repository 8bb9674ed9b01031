"""intake's domain: pure rules and the aggregates they change. No I/O, no import of the kit.

| module | job |
|---|---|
| `inputs` | an upstream exception or contact as one typed value (`Incoming`); the event-time rule |
| `classify` | kind, complaint, claim intent, problem code, priority, language, station hint |
| `fraud` | fraud flags and the frequent-claimant window |
| `reference` | one waybill's (or order's) cases and the merge / reopen / open decision |
| `case` | the case aggregate: opening, merging, reopening; `Change`, what a decision stores and emits |
| `closure` | closes and contacts after closure (routing's view is final) |
| `answers` | satisfaction answers on their case |
| `privacy` | the port the edge implements to seal, pseudonymise and scrub personal data |
"""
