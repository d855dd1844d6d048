"""`python -m soak` (`make soak`): a fault-injection soak of Conveyor on servers of its own.

A PostgreSQL (initdb on a free port) and a Redis of the soak's own, beat and several workers;
jobs created at a steady rate while workers are killed, Redis and PostgreSQL restarted; then a
report of what the Job rows and the handlers' own records say happened. See `soak.__main__`.
"""
