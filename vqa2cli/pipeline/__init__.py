"""vqa2cli.pipeline"""
