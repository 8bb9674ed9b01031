"""routing's domain: pure rules and the case aggregate. No I/O, no runtime: inputs are contract payloads, the
rules in force and the time; outputs are `Outcome`s (the case, the events it causes) or a `Refusal`."""
