CREATE TABLE "feed_watermark" (
	"singleton" boolean PRIMARY KEY DEFAULT true NOT NULL,
	"purged_xid" bigint DEFAULT 0 NOT NULL,
	"purged_id" uuid DEFAULT '00000000-0000-0000-0000-000000000000' NOT NULL,
	CONSTRAINT "feed_watermark_one_row" CHECK ("feed_watermark"."singleton")
);
--> statement-breakpoint
CREATE TABLE "token_keys" (
	"purpose" text PRIMARY KEY NOT NULL,
	"key" text NOT NULL
);
--> statement-breakpoint
ALTER TABLE "tasks" ADD COLUMN "recurrence_day" smallint;--> statement-breakpoint
ALTER TABLE "tasks" ADD CONSTRAINT "tasks_recurrence_day_of_month" CHECK ("tasks"."recurrence_day" between 1 and 31);--> statement-breakpoint
-- Series that exist keep the day of month of their current due date (written by hand, not by drizzle-kit).
UPDATE "tasks" SET "recurrence_day" = extract(day from "due_date" at time zone 'UTC')::smallint WHERE "recurrence" IS NOT NULL AND "due_date" IS NOT NULL;--> statement-breakpoint
INSERT INTO "feed_watermark" ("singleton") VALUES (true);--> statement-breakpoint
-- 32 random bytes, as hex, from two version-4 UUIDs (244 random bits; gen_random_uuid is built in, pgcrypto is not needed).
INSERT INTO "token_keys" ("purpose", "key") VALUES ('tokens', replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', ''));
