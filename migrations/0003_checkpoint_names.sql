ALTER TABLE "checkpoints" ADD COLUMN "model_name" text;--> statement-breakpoint
CREATE INDEX "checkpoints_project_created" ON "checkpoints" USING btree ("project_id","created_at","id");