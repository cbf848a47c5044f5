"""The planner (pure): positions + policies + known exits -> actions for each exit slot."""
