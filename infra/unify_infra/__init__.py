"""Project Unify's AWS platform as code (AWS CDK for Python): one stack, configured per environment."""
