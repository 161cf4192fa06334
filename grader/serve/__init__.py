"""The submission service (``grader serve``): students upload and read their feedback, the
instructor watches the class; a web process and a dispatcher process over one database."""
