"""slmesh on AWS Lambda and Step Functions: edge models, adapters and handler logic behind thin functions."""
