"""Use cases that read and write the stores: intake, the pairing workflow, mail, retention.

Services raise the domain's refusals; the web layer turns those into answers.
"""
