"""hexgate provider: the Hexin / HiThink backend (work in progress)."""
