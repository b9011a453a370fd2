-- pgaudit, the step RDS documents after shared_preload_libraries (which the parameter group sets):
-- CREATE EXTENSION, so the audit settings (pgaudit.log = ddl,role,write) are enforced as configured.
--
-- On RDS (it defines rds.extensions) the extension is required: when pgaudit is not loaded yet (the
-- parameter applies at the next reboot) or RDS does not offer it, the migration fails and so does the
-- deploy, with what to do. A server that is not RDS and does not preload pgaudit (the test rig's
-- PostgreSQL has no pgaudit) gets a notice and no extension.
DO $$
DECLARE
    rds_offers TEXT := current_setting('rds.extensions', true);
    preloaded  BOOLEAN := 'pgaudit' = ANY (string_to_array(
                              replace(current_setting('shared_preload_libraries'), ' ', ''), ','));
BEGIN
    IF rds_offers IS NULL AND NOT preloaded THEN
        RAISE NOTICE 'pgaudit not created: not RDS, and shared_preload_libraries (%) does not load it',
            current_setting('shared_preload_libraries');
        RETURN;
    END IF;
    IF rds_offers IS NOT NULL AND NOT 'pgaudit' = ANY (string_to_array(replace(rds_offers, ' ', ''), ',')) THEN
        RAISE EXCEPTION 'pgaudit is required but this RDS engine version does not offer it (rds.extensions = %)',
            rds_offers;
    END IF;
    IF NOT preloaded THEN
        RAISE EXCEPTION 'pgaudit is required but not loaded: shared_preload_libraries is ''%''',
            current_setting('shared_preload_libraries')
            USING HINT = 'The parameter group sets it for the next reboot: reboot the instance '
                         '(aws rds reboot-db-instance --db-instance-identifier <name>), then deploy again.';
    END IF;
    CREATE EXTENSION IF NOT EXISTS pgaudit;
END
$$;
