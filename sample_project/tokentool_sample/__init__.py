"""A throwaway package: tokentool uploads it to prove a restricted token works.

It is never meant to be used; importing it after ``pip install`` only proves
that what the index accepted is a working distribution.
"""

GREETING = "uploaded with a project-restricted token"
