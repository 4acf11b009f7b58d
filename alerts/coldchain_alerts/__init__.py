"""coldchain alerts: store alert events, serve them, and (next) tell people."""
