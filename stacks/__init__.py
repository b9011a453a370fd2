"""Deployable units: one Terraform stack per environment, plus the state bootstrap."""
