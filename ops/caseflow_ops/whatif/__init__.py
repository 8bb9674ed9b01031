"""What if: replay a recorded period through the services' own domain code, under the recorded policies (it must
agree with what the suite recorded) and under candidate ones (the difference they would have made).

`period` reads and writes the recorded records, `policies` finds the rules files by version, `engine` replays,
`outcomes` compares and sums up, `report` prints tables, JSON and an HTML page.
"""
