"""vqa2cli.video"""
