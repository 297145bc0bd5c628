"""Scenario and history generators (the simulator)."""
