"""What every layer may use: time as a dependency."""
