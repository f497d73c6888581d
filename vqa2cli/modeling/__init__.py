"""vqa2cli.modeling"""
