"""The database itself refuses UPDATE and DELETE on the audit log, whoever connects."""

from django.db import migrations

FORWARD = """
CREATE FUNCTION strangler_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit log is append-only: % refused on strangler_audit_entry', TG_OP;
END $$;
CREATE TRIGGER strangler_audit_append_only BEFORE UPDATE OR DELETE ON strangler_audit_entry
    FOR EACH ROW EXECUTE FUNCTION strangler_audit_append_only();
"""
BACKWARD = """
DROP TRIGGER IF EXISTS strangler_audit_append_only ON strangler_audit_entry;
DROP FUNCTION IF EXISTS strangler_audit_append_only();
"""


class Migration(migrations.Migration):
    dependencies = [("routing", "0001_initial")]
    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
