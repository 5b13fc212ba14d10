ALTER TABLE "workers" ADD COLUMN "address" text;--> statement-breakpoint
ALTER TABLE "workers" ADD COLUMN "models" jsonb DEFAULT '[]'::jsonb NOT NULL;--> statement-breakpoint
ALTER TABLE "workers" ADD COLUMN "slots" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "workers" ADD COLUMN "free_slots" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "workers" ADD COLUMN "provider" text;--> statement-breakpoint
ALTER TABLE "workers" ADD COLUMN "inference_seen_at" timestamp with time zone;