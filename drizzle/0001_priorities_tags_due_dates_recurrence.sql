ALTER TABLE "tasks" ADD COLUMN "priority" text DEFAULT 'medium' NOT NULL;--> statement-breakpoint
ALTER TABLE "tasks" ADD COLUMN "tags" text[] DEFAULT '{}' NOT NULL;--> statement-breakpoint
ALTER TABLE "tasks" ADD COLUMN "due_date" timestamp (3) with time zone;--> statement-breakpoint
ALTER TABLE "tasks" ADD COLUMN "recurrence" text;--> statement-breakpoint
ALTER TABLE "tasks" ADD COLUMN "next_task_id" uuid;--> statement-breakpoint
ALTER TABLE "tasks" ADD CONSTRAINT "tasks_priority_known" CHECK ("tasks"."priority" in ('low', 'medium', 'high'));--> statement-breakpoint
ALTER TABLE "tasks" ADD CONSTRAINT "tasks_tags_at_most_20" CHECK (cardinality("tasks"."tags") <= 20);--> statement-breakpoint
ALTER TABLE "tasks" ADD CONSTRAINT "tasks_recurrence_known" CHECK ("tasks"."recurrence" in ('daily', 'weekly', 'monthly', 'yearly'));--> statement-breakpoint
ALTER TABLE "tasks" ADD CONSTRAINT "tasks_recurrence_needs_due_date" CHECK ("tasks"."recurrence" is null or "tasks"."due_date" is not null);