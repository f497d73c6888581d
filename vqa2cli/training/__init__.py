"""vqa2cli.training"""
