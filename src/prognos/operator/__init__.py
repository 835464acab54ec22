"""The Kopf operator: the only package that imports ``kopf``.

Handlers are thin: parse the spec through ``prognos.api``, call the pure services, write status
conditions and Events explicitly.
"""
