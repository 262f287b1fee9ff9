"""The case once filed: recording it, forwarding it to focal points, its lifecycle, news to the reporter."""
