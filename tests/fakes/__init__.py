"""Stand-ins for hardware the test machines lack (the Tobii eye tracker)."""
