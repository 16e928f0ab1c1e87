"""``omniperf ab``: the base and head revisions of a suite measured interleaved in one job."""
