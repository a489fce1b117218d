"""What readers send in: submissions and contact requests, from the body's parsing to the reply, and the peer comparison."""
