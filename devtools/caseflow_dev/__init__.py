"""Developer tooling: the embedded Tansu broker, the local stack, and the test harness."""
