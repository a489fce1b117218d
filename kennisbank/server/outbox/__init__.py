"""What happens after a submission is stored: the outbox worker that mails the consultant and calls the webhook."""
